using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using CloudTelephony.Functions.Calls;
using CloudTelephony.Functions.Hosting;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
using CloudTelephony.Storage;
using CloudTelephony.Telephony.Routing;
using Microsoft.AspNetCore.Mvc;

namespace CloudTelephony.Functions.Contacts;

/// <summary>
/// Contacts of the token's enterprise (scope <c>crm</c>): lookup by number in any common format, search, create, update,
/// delete, and their numbers (devices). Numbers are stored in E.164, normalised with the enterprise's default region.
/// A contact of another enterprise is 404.
/// </summary>
public static class ContactEndpoints
{
    private const int MaxText = 200;
    private const int MaxLabel = 50;
    private const int MaxDevices = 50;

    /// <summary>Maps the endpoints.</summary>
    public static void MapContactEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/contacts", SearchAsync).WithName("ContactsList").RequireToken("crm").WithTags("Contacts")
            .WithSummary("Search contacts")
            .WithDescription("Contacts whose name or company contains the search text (any case), or one of whose numbers contains its digits or equals it in any format; sorted by name, one page with the total.")
            .Produces<ContactPageDto>().ProducesValidationProblem().ProducesCrmAuthProblems();
        // GET /api/contacts/{value} is two things: the DESIGN contract's lookup by number, which CRMs in the field call
        // with any number format, and the contact by id (the Location of a 201). A value that is a valid phone number
        // for the enterprise's region is a number; any other whole number is an id. /api/numbers/{number}/contact never reads ids.
        app.MapGet("/api/contacts/{id}", ByIdOrNumberAsync).WithName("ContactById").RequireToken("crm").WithTags("Contacts")
            .WithSummary("One contact by id")
            .WithDescription("The contact with this id; 404 for an unknown id or a contact of another enterprise. Compatibility with the original " +
                             "CRM contract GET /api/contacts/{number}: a value that is a valid phone number for the enterprise's region " +
                             "(+48693109180, 0048693109180, 693109180) is looked up as a number, as GET /api/numbers/{number}/contact does.")
            .Produces<ContactDto>().ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound).ProducesCrmAuthProblems();
        app.MapGet("/api/numbers/{number}/contact", ByNumberAsync).WithName("ContactByNumber").RequireToken("crm").WithTags("Contacts")
            .WithSummary("Look up a contact by phone number")
            .WithDescription("The number in any common format (+48 693 109 180, 0048693109180, 48693109180, 693109180) is normalised to E.164 with the enterprise's default region. 404 when no contact has it; when several share it, the oldest contact wins.")
            .Produces<ContactDto>().ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound).ProducesCrmAuthProblems();
        app.MapPost("/api/contacts", CreateAsync).WithName("ContactCreate").RequireToken("crm").WithTags("Contacts")
            .WithSummary("Create a contact")
            .WithDescription("Body {\"name\": \"Jan Kowalski\", \"company\": \"ACME\", \"devices\": [{\"number\": \"693 109 180\", \"label\": \"mobile\"}]} → 201 with the contact and its Location.")
            .Accepts<ContactRequest>("application/json").RequireJsonBody().ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .Produces<ContactDto>(StatusCodes.Status201Created).ProducesValidationProblem().ProducesCrmAuthProblems();
        app.MapPut("/api/contacts/{id:long}", UpdateAsync).WithName("ContactUpdate").RequireToken("crm").WithTags("Contacts")
            .WithSummary("Replace a contact")
            .WithDescription("Replaces name and company; devices, when given, replace the contact's numbers (omit them to keep the numbers).")
            .Accepts<ContactRequest>("application/json").RequireJsonBody().ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .Produces<ContactDto>().ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound).ProducesCrmAuthProblems();
        app.MapDelete("/api/contacts/{id:long}", DeleteAsync).WithName("ContactDelete").RequireToken("crm").WithTags("Contacts")
            .WithSummary("Delete a contact and its numbers")
            .Produces(StatusCodes.Status204NoContent).ProducesProblem(StatusCodes.Status404NotFound).ProducesCrmAuthProblems();
        app.MapPost("/api/contacts/{id:long}/devices", AddDeviceAsync).WithName("ContactDeviceAdd").RequireToken("crm").WithTags("Contacts")
            .WithSummary("Add a number to a contact")
            .WithDescription("Body {\"number\": \"+48 693 109 180\", \"label\": \"mobile\"} → 201 with the device and its Location (200 when the contact already had the number: raw form and label are updated).")
            .Accepts<ContactDeviceRequest>("application/json").RequireJsonBody().ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .Produces<ContactDevice>(StatusCodes.Status201Created).Produces<ContactDevice>()
            .ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound).ProducesCrmAuthProblems();
        app.MapGet("/api/contacts/{id:long}/devices/{deviceId:long}", GetDeviceAsync).WithName("ContactDeviceById").RequireToken("crm").WithTags("Contacts")
            .WithSummary("One number of a contact")
            .Produces<ContactDevice>().ProducesProblem(StatusCodes.Status404NotFound).ProducesCrmAuthProblems();
        app.MapDelete("/api/contacts/{id:long}/devices/{deviceId:long}", DeleteDeviceAsync).WithName("ContactDeviceDelete").RequireToken("crm").WithTags("Contacts")
            .WithSummary("Remove a number from a contact")
            .Produces(StatusCodes.Status204NoContent).ProducesProblem(StatusCodes.Status404NotFound).ProducesCrmAuthProblems();
    }

    private static async Task<IResult> SearchAsync(
        HttpContext http,
        [FromQuery(Name = "search"), Description("Part of the name or company, or of a number (any format).")] string? search,
        [FromQuery(Name = "page"), Description("Page number from 1 (default 1).")] string? page,
        [FromQuery(Name = "pageSize"), Description("Contacts per page, 1–1000 (default 50).")] string? pageSize,
        ContactStore store,
        CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        var p = CallEndpoints.Int(page, "page", 1, 1, int.MaxValue, errors);
        var size = CallEndpoints.Int(pageSize, "pageSize", 50, 1, 1000, errors);
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }

        var text = string.IsNullOrWhiteSpace(search) ? null : search.Trim();
        var e164 = text is null ? null : PhoneNormalizer.ToE164(text, await CrmContext.RegionAsync(http, ct));
        var result = await store.SearchAsync(http.ApiToken().EnterpriseId, text, e164, p, size, ct);
        return Results.Ok(new ContactPageDto(result.Items.Select(ContactDto.From).ToList(), result.Total, result.Page, result.PageSize));
    }

    private static async Task<IResult> ByIdOrNumberAsync(
        [Description("The contact's id (a valid phone number is looked up as a number, see the description).")] string id,
        HttpContext http, ContactStore store, CancellationToken ct)
    {
        var region = await CrmContext.RegionAsync(http, ct);
        if (long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var contactId) && id[0] != '0'
            && SmsNumbers.Normalize(id, region) is null)
        {
            var contact = await store.GetAsync(http.ApiToken().EnterpriseId, contactId, ct);
            return contact is null ? NotFound(contactId) : Results.Ok(ContactDto.From(contact));
        }

        return await FindByNumberAsync(id, region, http, store, ct);
    }

    private static async Task<IResult> ByNumberAsync(
        [Description("The phone number in any common format.")] string number, HttpContext http, ContactStore store, CancellationToken ct)
        => await FindByNumberAsync(number, await CrmContext.RegionAsync(http, ct), http, store, ct);

    private static async Task<IResult> FindByNumberAsync(string number, string region, HttpContext http, ContactStore store, CancellationToken ct)
    {
        if (PhoneNormalizer.ToE164(number, region) is not { } e164)
        {
            return Results.ValidationProblem(new Dictionary<string, string[]>
            {
                ["number"] = [$"'{number}' is not a phone number (E.164 like +48693109180, or national in region {region})"],
            });
        }

        var contact = await store.FindByNumberAsync(http.ApiToken().EnterpriseId, e164, ct);
        return contact is null
            ? Results.Problem(statusCode: 404, title: "contact not found", detail: $"no contact with number {e164}")
            : Results.Ok(ContactDto.From(contact));
    }

    private static async Task<IResult> CreateAsync(HttpContext http, ContactStore store, CancellationToken ct)
    {
        var (body, problem) = await ReadAsync(http, ApiJson.Default.ContactRequest, ct);
        if (problem is not null)
        {
            return problem;
        }

        var (devices, errors) = Validate(body!, await CrmContext.RegionAsync(http, ct));
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors, title: "the contact was not saved");
        }

        var contact = await store.CreateAsync(http.ApiToken().EnterpriseId, body!.Name!.Trim(), Trim(body.Company), devices ?? [], ct);
        return Results.Created(ContactPath(contact.Id), ContactDto.From(contact));
    }

    private static async Task<IResult> UpdateAsync(long id, HttpContext http, ContactStore store, CancellationToken ct)
    {
        var (body, problem) = await ReadAsync(http, ApiJson.Default.ContactRequest, ct);
        if (problem is not null)
        {
            return problem;
        }

        var (devices, errors) = Validate(body!, await CrmContext.RegionAsync(http, ct));
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors, title: "the contact was not saved");
        }

        var contact = await store.UpdateAsync(http.ApiToken().EnterpriseId, id, body!.Name!.Trim(), Trim(body.Company), devices, ct);
        return contact is null ? NotFound(id) : Results.Ok(ContactDto.From(contact));
    }

    private static async Task<IResult> DeleteAsync(long id, HttpContext http, ContactStore store, CancellationToken ct)
        => await store.DeleteAsync(http.ApiToken().EnterpriseId, id, ct) ? Results.NoContent() : NotFound(id);

    private static async Task<IResult> AddDeviceAsync(long id, HttpContext http, ContactStore store, CancellationToken ct)
    {
        var (body, problem) = await ReadAsync(http, ApiJson.Default.ContactDeviceRequest, ct);
        if (problem is not null)
        {
            return problem;
        }

        var errors = new Dictionary<string, string[]>();
        var device = Device(body!, "", await CrmContext.RegionAsync(http, ct), errors);
        if (device is null)
        {
            return Results.ValidationProblem(errors, title: "the number was not saved");
        }

        var added = await store.AddDeviceAsync(http.ApiToken().EnterpriseId, id, device, ct);
        if (added is not { } a)
        {
            return NotFound(id);
        }

        return a.Created
            ? Results.Created($"{ContactPath(id)}/devices/{a.Device.Id.ToString(CultureInfo.InvariantCulture)}", a.Device)
            : Results.Ok(a.Device);
    }

    private static async Task<IResult> GetDeviceAsync(long id, long deviceId, HttpContext http, ContactStore store, CancellationToken ct)
        => (await store.GetAsync(http.ApiToken().EnterpriseId, id, ct))?.Devices.FirstOrDefault(d => d.Id == deviceId) is { } device
            ? Results.Ok(device)
            : Results.Problem(statusCode: 404, title: "device not found", detail: $"contact {id} has no device {deviceId}");

    /// <summary>The path of a contact (the <c>Location</c> of a created one).</summary>
    public static string ContactPath(long id) => "/api/contacts/" + id.ToString(CultureInfo.InvariantCulture);

    private static async Task<IResult> DeleteDeviceAsync(long id, long deviceId, HttpContext http, ContactStore store, CancellationToken ct)
        => await store.DeleteDeviceAsync(http.ApiToken().EnterpriseId, id, deviceId, ct)
            ? Results.NoContent()
            : Results.Problem(statusCode: 404, title: "device not found", detail: $"contact {id} has no device {deviceId}");

    private static IResult NotFound(long id) => Results.Problem(statusCode: 404, title: "contact not found", detail: $"no contact with id {id}");

    /// <summary>A value as an error message may show it: control characters as U+XXXX, at most 40 characters.</summary>
    internal static string Shown(string value)
    {
        var shown = string.Concat(value.Select(c => c < ' ' || c == '\u007f' ? $"U+{(int)c:X4}" : c.ToString()));
        return shown.Length > 40 ? shown[..40] + "…" : shown;
    }

    private static string? Trim(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();

    private static async Task<(T? Body, IResult? Problem)> ReadAsync<T>(HttpContext http, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken ct)
        where T : class
    {
        try
        {
            var body = await http.Request.ReadFromJsonAsync(type, ct);
            return body is null
                ? (null, Results.Problem(statusCode: 400, title: "body must be a JSON object"))
                : (body, null);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return (null, Results.Problem(statusCode: 400, title: "body must be a JSON object", detail: ex.Message));
        }
    }

    /// <summary>Checks a contact body; errors are keyed by field (<c>name</c>, <c>company</c>, <c>devices[1].number</c>).</summary>
    private static (List<NewContactDevice>? Devices, Dictionary<string, string[]> Errors) Validate(ContactRequest body, string region)
    {
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(body.Name))
        {
            errors["name"] = ["is required"];
        }
        else if (body.Name.Trim().Length > MaxText)
        {
            errors["name"] = [$"must be at most {MaxText} characters"];
        }

        if (body.Company is { } company && company.Trim().Length > MaxText)
        {
            errors["company"] = [$"must be at most {MaxText} characters"];
        }

        TextInput.CheckSingleLine(body.Name, "name", errors);
        TextInput.CheckSingleLine(body.Company, "company", errors);

        if (body.Devices is null)
        {
            return (null, errors);
        }

        if (body.Devices.Count > MaxDevices)
        {
            errors["devices"] = [$"at most {MaxDevices} numbers"];
            return (null, errors);
        }

        var devices = new List<NewContactDevice>();
        for (var i = 0; i < body.Devices.Count; i++)
        {
            if (body.Devices[i] is null)
            {
                errors[$"devices[{i}]"] = ["must be an object {\"number\": …}"];
            }
            else if (Device(body.Devices[i], $"devices[{i}].", region, errors) is { } d)
            {
                devices.Add(d);
            }
        }

        return (devices, errors);
    }

    private static NewContactDevice? Device(ContactDeviceRequest d, string prefix, string region, Dictionary<string, string[]> errors)
    {
        NewContactDevice? result = null;
        if (string.IsNullOrWhiteSpace(d.Number))
        {
            errors[prefix + "number"] = ["is required"];
        }
        else if (SmsNumbers.SyntaxProblem(d.Number) is { } problem)
        {
            errors[prefix + "number"] = [$"'{Shown(d.Number)}' {problem}"];
        }
        else if (PhoneNormalizer.ToE164(d.Number, region) is { } e164)
        {
            result = new NewContactDevice(e164, d.Number.Trim(), Trim(d.Label));
        }
        else
        {
            errors[prefix + "number"] = [$"'{d.Number}' is not a phone number (E.164 like +48693109180, or national in region {region})"];
        }

        if (d.Label is { } label && label.Trim().Length > MaxLabel)
        {
            errors[prefix + "label"] = [$"must be at most {MaxLabel} characters"];
            result = null;
        }
        else if (!TextInput.CheckSingleLine(d.Label, prefix + "label", errors))
        {
            result = null;
        }

        return result;
    }
}
