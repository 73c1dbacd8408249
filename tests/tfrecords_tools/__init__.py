"""Tests of the dataset converters (tfrecords_tools/)."""
