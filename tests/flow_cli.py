"""``python -m flow`` called in the test's own process, and the one-line refusal it must give."""

from __future__ import annotations

from flow.__main__ import main


def cli(capsys, *args) -> tuple[int, str, str]:
    """``python -m flow ARGS`` in this process: (exit status, stdout, stderr)."""
    try:
        rc = main([str(a) for a in args])
    except SystemExit as e:                       # argparse's own refusals
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def one_error_line(rc, err, *needles, code=2):
    """A refusal: exit ``code``, one ``error: ...`` line on stderr holding every needle."""
    assert rc == code, (rc, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
