using Azure.Identity;
using Azure.Storage.Blobs;
using CloudTelephony.Functions.Hosting;

namespace CloudTelephony.Functions.Archive;

/// <summary>
/// Settings of the raw-frame archive (section <c>Archive</c>; env <c>Archive__Container</c>, <c>Archive__BlobConnectionString</c>).
/// </summary>
public sealed class ArchiveOptions
{
    /// <summary>Blob container of the archive; created when missing. Default <c>frame-archive</c>.</summary>
    public string Container { get; set; } = "frame-archive";

    /// <summary>
    /// Storage connection string (Azurite locally: see <c>infra/local/azurite.sh</c>); falls back to env <c>CT_BLOB</c>.
    /// Takes precedence over <see cref="BlobServiceUri"/>.
    /// </summary>
    public string? BlobConnectionString { get; set; }

    /// <summary>
    /// Blob service endpoint for identity-based access (what <c>bicep/modules/functionapp.bicep</c> sets, with
    /// <c>Archive__ClientId</c>): the container is reached with <c>DefaultAzureCredential</c> (managed identity in Azure).
    /// </summary>
    public string? BlobServiceUri { get; set; }

    /// <summary>Client id of the user-assigned managed identity for <see cref="BlobServiceUri"/>; null = system-assigned / default chain.</summary>
    public string? ClientId { get; set; }

    /// <summary>Reads section <c>Archive</c>, with <c>CT_BLOB</c> as the connection string fallback.</summary>
    public static ArchiveOptions From(IConfiguration config)
    {
        var options = config.GetSection("Archive").Get<ArchiveOptions>() ?? new ArchiveOptions();
        if (string.IsNullOrEmpty(options.BlobConnectionString) && config["CT_BLOB"] is { Length: > 0 } env)
        {
            options.BlobConnectionString = env;
        }

        return options;
    }

    /// <summary>The archive container client.</summary>
    /// <exception cref="ConfigException">Neither a connection string nor a valid service endpoint is configured.</exception>
    public BlobContainerClient CreateContainerClient()
    {
        if (!string.IsNullOrEmpty(BlobConnectionString))
        {
            return new BlobContainerClient(BlobConnectionString, Container);
        }

        if (Uri.TryCreate(BlobServiceUri, UriKind.Absolute, out var service))
        {
            var credential = new DefaultAzureCredential(new DefaultAzureCredentialOptions { ManagedIdentityClientId = ClientId });
            return new BlobServiceClient(service, credential).GetBlobContainerClient(Container);
        }

        throw new ConfigException(
            "the frame archive has no storage configured: set Archive__BlobConnectionString (or CT_BLOB), "
            + "or Archive__BlobServiceUri (+ Archive__ClientId) for managed identity");
    }
}
