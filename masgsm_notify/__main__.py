"""`python -m masgsm_notify` is the `masgsm-notify` command."""

from .cli import main

main(prog_name="masgsm-notify")
