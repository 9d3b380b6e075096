"""`python -m tap_marketo_bulk` runs the tap CLI."""

from tap_marketo_bulk.tap import TapMarketoBulk

TapMarketoBulk.cli()
