"""The paper's comparison as one command: world -> base -> five judges -> evaluation -> report."""
