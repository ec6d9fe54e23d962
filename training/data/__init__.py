"""Dataset building: loaders for chat formats, license gate, persona conditioning, filters."""
