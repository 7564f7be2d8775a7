using Azure.Storage.Blobs;

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
    /// Only connection strings are supported (Azure.Identity is not a dependency of this repository yet).
    /// </summary>
    public string? BlobConnectionString { get; set; }

    /// <summary>
    /// Blob service endpoint for identity-based access (what <c>bicep/modules/functionapp.bicep</c> sets, with
    /// <c>Archive__ClientId</c>). Not supported yet: it needs Azure.Identity, which Directory.Packages.props does not
    /// carry; configuring only this fails with a message saying so.
    /// </summary>
    public string? BlobServiceUri { get; set; }

    /// <summary>Client id of the user-assigned managed identity for <see cref="BlobServiceUri"/> (not used yet).</summary>
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
    /// <exception cref="ConfigException">No connection string configured.</exception>
    public BlobContainerClient CreateContainerClient()
    {
        if (string.IsNullOrEmpty(BlobConnectionString) && !string.IsNullOrEmpty(BlobServiceUri))
        {
            throw new ConfigException(
                "the frame archive is configured with Archive__BlobServiceUri (managed identity), which this build does not support yet "
                + "(Azure.Identity is not referenced): set Archive__BlobConnectionString to a storage connection string");
        }

        if (string.IsNullOrEmpty(BlobConnectionString))
        {
            throw new ConfigException("the frame archive has no storage configured: set Archive__BlobConnectionString (or CT_BLOB) to a storage connection string");
        }

        return new BlobContainerClient(BlobConnectionString, Container);
    }
}
