"""`python -m storyfence` runs the same CLI as the `storyfence` console script."""

from storyfence.cli import main

raise SystemExit(main())
