"""The web configurator (`webapp`): the manual's pages over HTTPS for installers and owners."""
