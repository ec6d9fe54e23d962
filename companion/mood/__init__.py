"""Mood: an emotion reading of each user message, its history per user, and what it changes."""
