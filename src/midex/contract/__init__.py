"""The data contract: settings, the schema and codelists, rules and their messages, findings, areas, provider kinds, errors, and what a CSV for people may hold. Imports nothing else of midex."""
