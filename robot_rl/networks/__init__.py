"""Networks shared by agents and reward models."""
