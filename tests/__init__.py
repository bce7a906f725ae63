"""Tests; `tests.builders` holds the tiny offline models and SAEs they share."""
