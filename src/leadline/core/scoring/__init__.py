"""Rule-based lead scoring: the model file, conditions, decay, and how points become a score."""
