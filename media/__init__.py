"""Reading media files: what a file holds (`probe`) and its frames as a stream (`decode`).

Harvest probes every download, pseudolabel and features decode, prediction decodes a user's clip: one
home for the code that opens a video, so a limit or a fix (rotation, frame size) reaches every stage.
"""
