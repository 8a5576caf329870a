"""Image service (Glance v2): images and their file store."""
