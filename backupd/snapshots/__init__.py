"""Volume data: CSI VolumeSnapshots and AWS EBS snapshots taken with a backup.

plan      which claims get a snapshot and how (pure)
csi       VolumeSnapshots through the snapshot API: take, retain, delete
backup    the step the backup engine calls after listing
deletion  what `backup delete` does to a backup's snapshots

The stored records (volumesnapshots.json) are models in backupd.api.snapshots;
backupd.storage.volumesnapshots stores and loads them, digest-checked; EBS calls
(boto3) are in backupd.storage.ebs, below both the backup and the restore.
"""
