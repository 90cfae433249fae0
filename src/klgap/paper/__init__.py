"""The paper: findings computed from the tables, figures, and the generated LaTeX."""
