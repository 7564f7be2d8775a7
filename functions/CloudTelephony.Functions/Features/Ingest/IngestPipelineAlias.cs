// The Functions host adapter (IngestFramesEndpoint, QueueIngestService) still names the correlate-and-store path by its
// old name; this alias keeps it compiling until it moves to CorrelateAndStore.
global using IngestPipeline = CloudTelephony.Functions.Ingest.CorrelateAndStore;
