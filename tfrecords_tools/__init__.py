"""Dataset converters: source formats -> canonical TFRecord shards + split files."""
