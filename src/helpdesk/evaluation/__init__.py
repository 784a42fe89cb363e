"""Answer-quality evaluation of the brain on public intent data sets (`helpdesk eval`)."""
