"""Lead imports from files: the streaming CSV reader (column mapping: `leadline.core.import_mapping`)."""
