"""Tests of the `ssvad` command line (cli/)."""
