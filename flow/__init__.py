"""The flow: named steps train -> export -> rtl -> sim -> bitstream, each writing its artifacts
and a JSON report.  The Makefile is a thin front over ``python -m flow``."""
