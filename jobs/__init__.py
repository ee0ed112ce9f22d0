"""Pipeline jobs: pure DataFrame transforms plus thin entry points that do the I/O."""
