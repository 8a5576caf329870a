"""Block Storage (Cinder v3): volumes on sparse files in the data dir, their attachments and quotas."""
