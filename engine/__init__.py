"""guanxi engine: rule language, rule-set loading, classification, planning, store."""
