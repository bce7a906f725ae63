"""`python -m sae_gd_labeler ...` (and `torchrun -m sae_gd_labeler label ...`): the sae-gd-labeler command."""

from sae_gd_labeler.cli import main

raise SystemExit(main())
