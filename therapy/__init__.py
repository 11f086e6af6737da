"""Treatment science, GUI-free and file-light: protocol records and the standard library with
their sources (protocol, library), the rTMS safety tables (safety), the depth-adjusted dose
(dose), maximum-likelihood motor-threshold hunting (threshold_ml) and its simulation against a
known response model (mep_sim). Imports navcore only; navtms/ holds the CLI, session records
and reports that use it."""
