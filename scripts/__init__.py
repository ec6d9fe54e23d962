"""Repository tools run by hand (not shipped in the wheel); tests import them as `scripts.*`."""
