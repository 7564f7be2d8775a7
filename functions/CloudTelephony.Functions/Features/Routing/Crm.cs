using System.Text.Json;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using CloudTelephony.Telephony.Routing;

namespace CloudTelephony.Functions.Routing;

/// <summary>A CRM customer found by phone: the display name and the responsible manager's CRM id (either may be null).</summary>
[System.ComponentModel.ImmutableObject(true)]
public sealed record CrmCustomer(string? Name, string? ManagerId);

/// <summary>The CRM could not be asked or its answer made no sense (the message says which; never holds the API key).</summary>
public sealed class CrmException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A CRM the routing lookup can ask who a caller is and who their manager is.</summary>
public interface ICrmAdapter
{
    /// <summary>The <c>crm_kind</c> this adapter serves (e.g. <c>retailcrm</c>).</summary>
    string Kind { get; }

    /// <summary>The customer with number <paramref name="e164"/>, or null when the CRM knows none.</summary>
    /// <param name="settings">The enterprise's settings (CRM address and key).</param>
    /// <param name="e164">The caller in E.164.</param>
    /// <param name="ct">Cancelled when the answer budget runs out: the adapter must stop then.</param>
    /// <exception cref="CrmException">The CRM failed or answered garbage.</exception>
    Task<CrmCustomer?> FindCustomerAsync(RoutingSettings settings, string e164, CancellationToken ct);
}

/// <summary>
/// retailCRM (API v5): <c>GET {url}/api/v5/customers?filter[name]={national number}&amp;limit=20</c> with header
/// <c>X-API-KEY</c>; the first customer one of whose <c>phones[].number</c> normalises to the caller's E.164 wins;
/// name = first and last name, manager = <c>managerId</c>. The HttpClient carries the resilience pipeline
/// (circuit breaker per CRM host); the caller's token carries the hard timeout of the remaining budget.
/// </summary>
public sealed class RetailCrmAdapter(HttpClient http) : ICrmAdapter
{
    /// <inheritdoc />
    public string Kind => "retailcrm";

    /// <inheritdoc />
    public async Task<CrmCustomer?> FindCustomerAsync(RoutingSettings settings, string e164, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(settings.CrmUrl) || string.IsNullOrEmpty(settings.CrmApiKey))
        {
            throw new CrmException("retailCRM is not configured (crm url and api key)");
        }

        var national = PhoneNumbers.PhoneNumberUtil.GetInstance().Parse(e164, null).NationalNumber.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var uri = new Uri(settings.CrmUrl.TrimEnd('/') + "/api/v5/customers?limit=20&filter%5Bname%5D=" + Uri.EscapeDataString(national));
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        request.Headers.Add("X-API-KEY", settings.CrmApiKey);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct);
        }
        catch (HttpRequestException ex)
        {
            throw new CrmException($"retailCRM unreachable: {ex.Message}", ex);
        }
        catch (Polly.CircuitBreaker.BrokenCircuitException ex)
        {
            throw new CrmException("retailCRM circuit open after repeated failures", ex);
        }
        catch (Polly.Timeout.TimeoutRejectedException ex)
        {
            throw new CrmException("retailCRM attempt timed out", ex);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw new CrmException($"retailCRM answered HTTP {(int)response.StatusCode}");
            }

            var body = await response.Content.ReadAsStreamAsync(ct);
            try
            {
                using var doc = await JsonDocument.ParseAsync(body, cancellationToken: ct);
                return Pick(doc.RootElement, e164, settings.DefaultRegion);
            }
            catch (JsonException ex)
            {
                throw new CrmException("retailCRM answered something that is not JSON", ex);
            }
            catch (InvalidOperationException ex)
            {
                throw new CrmException("retailCRM answered JSON of an unexpected shape", ex);
            }
        }
    }

    private static CrmCustomer? Pick(JsonElement root, string e164, string region)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("success", out var ok) || ok.ValueKind != JsonValueKind.True
            || !root.TryGetProperty("customers", out var customers) || customers.ValueKind != JsonValueKind.Array)
        {
            throw new CrmException("retailCRM answer has no success=true and customers array");
        }

        foreach (var c in customers.EnumerateArray())
        {
            if (c.ValueKind != JsonValueKind.Object || !c.TryGetProperty("phones", out var phones) || phones.ValueKind != JsonValueKind.Array)
            {
                continue;
            }

            var match = phones.EnumerateArray().Any(p => p.ValueKind == JsonValueKind.Object && p.TryGetProperty("number", out var n)
                && n.ValueKind == JsonValueKind.String && PhoneNormalizer.ToE164(n.GetString(), region) == e164);
            if (!match)
            {
                continue;
            }

            var name = string.Join(' ', new[] { Str(c, "firstName"), Str(c, "lastName") }.Where(s => !string.IsNullOrWhiteSpace(s)));
            var manager = c.TryGetProperty("managerId", out var m) ? m.ValueKind switch
            {
                JsonValueKind.Number => m.GetRawText(),
                JsonValueKind.String => m.GetString(),
                _ => null,
            } : null;
            return new CrmCustomer(name.Length == 0 ? null : name, manager);
        }

        return null;
    }

    private static string? Str(JsonElement e, string name)
        => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
