"""The network diagram of a run page: an inline SVG drawn from :func:`report.analysis._network`.

One box per stage (input, each HD-LIF layer, the readout, the argmax), left to right, with the
tensor shape on each arrow.  Inline SVG needs no image file and scales with the page.
"""

from __future__ import annotations

from html import escape

BOX_W, BOX_H, GAP, PAD = 196, 112, 56, 12
FILL = {"input": "#eef3f8", "hdlif_conv": "#dbe8f6", "hdlif_fc": "#dbe8f6", "readout_fc": "#f6e3d4", "argmax": "#eeeeee"}


def _dims(shape) -> str:
    return "\u00d7".join(str(d) for d in shape)


def _boxes(net: dict) -> list[tuple[str, list[str], str, str]]:
    """(kind, lines, shape on the arrow out)."""
    inp = net["input"]
    out = [("input", ["input", f"{inp['bits']}-bit pixels 0..{inp['max_value']}", f"direct encoding, T={net['T']}"],
            _dims(inp["shape"]), "")]
    for layer in net["layers"]:
        if layer["kind"] == "hdlif_conv":
            lines = [f"{layer['name']}: conv {layer['kernel']}\u00d7{layer['kernel']}, {layer['out_channels']} ch",
                     f"{layer['weights']} weights, stride {layer['stride']}, pad {layer['padding']}",
                     f"{layer['neuron']} HD-LIF, {net['spike_bits']}-bit codes",
                     f"max pool {layer['pool']}\u00d7{layer['pool']}" if layer["pool"] > 1 else "no pooling"]
        elif layer["kind"] == "hdlif_fc":
            lines = [f"{layer['name']}: fc {layer['in_shape'][0]}\u2192{layer['out_shape'][0]}",
                     f"{layer['weights']} weights",
                     f"{layer['neuron']} HD-LIF, {net['spike_bits']}-bit codes"]
        else:
            lines = [f"{layer['name']}: readout fc", f"{layer['in_shape'][0]}\u2192{layer['out_shape'][0]}, "
                     f"{layer['weights']} weights", "scores per step"]
        if layer.get("stem"):
            lines.append("stem: once per image")
        else:
            lines.append(f"{100 * layer['zero_fraction']:.0f} % zero weights")
        out.append((layer["kind"], lines, _dims(layer["out_shape"]), layer["name"]))
    out.append(("argmax", ["class", "argmax of \u03a3_t scores"], "", ""))
    return out


def network_svg(net: dict) -> str:
    """The SVG element (a string) for ``net``."""
    boxes = _boxes(net)
    width = PAD * 2 + len(boxes) * BOX_W + (len(boxes) - 1) * GAP
    height = PAD * 2 + BOX_H + 22
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="network diagram of {escape(net["name"])}" class="diagram">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>']
    for i, (kind, lines, shape_out, _) in enumerate(boxes):
        x = PAD + i * (BOX_W + GAP)
        y = PAD
        parts.append(f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{FILL[kind]}" '
                     f'stroke="#4a6785" stroke-width="1.2"/>')
        for j, text in enumerate(lines):
            weight = ' font-weight="bold"' if j == 0 else ""
            parts.append(f'<text x="{x + BOX_W / 2}" y="{y + 18 + 18 * j}" text-anchor="middle" font-size="11"'
                         f'{weight} font-family="sans-serif">{escape(text)}</text>')
        if i < len(boxes) - 1:
            x0, x1, ym = x + BOX_W, x + BOX_W + GAP, y + BOX_H / 2
            parts.append(f'<line x1="{x0 + 2}" y1="{ym}" x2="{x1 - 2}" y2="{ym}" stroke="#555" stroke-width="1.5" '
                         'marker-end="url(#arrow)"/>')
            parts.append(f'<text x="{(x0 + x1) / 2}" y="{y + BOX_H + 16}" text-anchor="middle" font-size="10" '
                         f'font-family="sans-serif" fill="#333">{escape(shape_out)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
