"""Test helpers shipped with parcelflow (fault-injection pipeline, loopback servers)."""
