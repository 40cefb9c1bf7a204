"""Leaderboard reconstruction: folders and submission layout, model loading, per-volume inference, writing."""
