using Azure.Storage.Blobs;
using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;

namespace CloudTelephony.Functions.Tests;

/// <summary>
/// A fresh blob container on the real Azurite (or storage account) named by <c>CT_BLOB</c> (./ct test starts Azurite with
/// infra/local/azurite.sh and sets it). Each fixture instance creates its own container and deletes it when disposed.
/// </summary>
public sealed class BlobArchive : IAsyncLifetime
{
    public BlobArchive()
    {
        ConnectionString = Environment.GetEnvironmentVariable("CT_BLOB") is { Length: > 0 } cs
            ? cs
            : throw new InvalidOperationException("CT_BLOB is not set: run the tests through ./ct test, which starts Azurite (or: export CT_BLOB=$(infra/local/azurite.sh start | tail -n 1))");
        Name = $"archive-test-{Guid.NewGuid():N}"[..30];
        Container = new BlobContainerClient(ConnectionString, Name);
    }

    public string ConnectionString { get; }

    public string Name { get; }

    public BlobContainerClient Container { get; }

    /// <summary>Arguments for <see cref="FunctionsServer"/> that point the app's archive at this container.</summary>
    public string[] AppArgs => [$"--Archive:BlobConnectionString={ConnectionString}", $"--Archive:Container={Name}"];

    public async Task InitializeAsync() => await Container.CreateIfNotExistsAsync();

    public async Task DisposeAsync() => await Container.DeleteIfExistsAsync();
}
