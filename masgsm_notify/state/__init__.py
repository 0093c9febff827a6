"""The state directory: what every run of this account shares, whatever folder it starts from.

`$MASGSM_STATE_DIR`, else `$XDG_STATE_HOME/masgsm-notify`, else `~/.local/state/masgsm-notify`
holds the sent ledger (`ledger.sqlite`), the opt-out list (`optouts.sqlite`) and, by default,
each pipeline's journal (`journals/<pipeline name>.sqlite`). Everything in it is owner-only: it
holds numbers and texts.
"""
