"""Data: reading, checking and preparing the datasets as one ``.npz`` file each."""
