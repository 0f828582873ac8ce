"""TensorFlow checkpoints read without TensorFlow, and their conversion to torch weights."""
