"""Models: the VAE's networks and TensorFlow's runtime set-up (the only room that builds
networks)."""
