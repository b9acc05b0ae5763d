"""Small pipelines that show the contract; each runs on every engine (see the README's "Your own pipeline")."""
