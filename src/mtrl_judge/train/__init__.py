"""Training: thin assembly of TRL's SFTTrainer / GRPOTrainer from a recipe."""
