"""Training of the emotion classifier shipped in companion/mood/model/ (issue 17)."""
