"""Export files to typed records: dataType -> JSON schema, the CSV parser, the dedupe key set."""
