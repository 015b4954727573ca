"""Partner enablement and service quality: materials, training and certification, customer
satisfaction surveys, complaints and announcements."""
