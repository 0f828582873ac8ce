"""Readers and writers for what the HMMR authors published (akanazawa/human_dynamics), pure of Dask.

Their lists (InstaVariety.json, the split lists, VLOG clip ids), their OpenPose tracks
(InstaVariety_tracks) and their tfrecords, in our own words and code.
"""
