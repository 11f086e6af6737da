"""Treatment science, GUI-free and file-light: protocol records and the standard library with
their sources (protocol, library), the rTMS safety tables (safety), the depth-adjusted dose
(dose), the relative-frequency motor-threshold rule (threshold_rf), maximum-likelihood
threshold hunting (threshold_ml) and their simulation against a known response model
(mep_sim). Imports navcore only; navtms/ holds the CLI, session records and reports that use
it."""
