"""The small languages a catalog is written in: file date patterns, Joda formats, cron, file name templates."""
