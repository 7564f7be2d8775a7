using CloudTelephony.Telephony.Routing;

namespace CloudTelephony.Telephony.Tests.Routing;

public sealed class SmartRedirectTests
{
    [Theory]
    [InlineData("+48693109180")]
    [InlineData("+48 693 109 180")]
    [InlineData("0048693109180")]
    [InlineData("48693109180")]
    [InlineData("693109180")]
    [InlineData("693-109-180")]
    public void Polish_mobile_numbers_in_every_format_meet_on_one_E164(string raw)
        => Assert.Equal("+48693109180", PhoneNormalizer.ToE164(raw, "PL"));

    [Fact]
    public void A_PBX_number_with_an_outside_line_zero_is_the_national_number()
        => Assert.Equal("+48660155133", PhoneNormalizer.ToE164("0660155133", "PL"));

    [Fact]
    public void A_foreign_number_keeps_its_country()
        => Assert.Equal("+4930123456", PhoneNormalizer.ToE164("004930123456", "PL"));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("anonymous")]
    [InlineData("101")]
    [InlineData("12")]
    public void Extensions_withheld_and_garbage_are_no_number(string? raw)
        => Assert.Null(PhoneNormalizer.ToE164(raw, "PL"));

    [Fact]
    public void DialPlan_names_the_generated_context()
        => Assert.Equal("mngr17_trunk2_1", SmartRedirect.DialPlan("17", "trunk2"));

    [Theory]
    [InlineData("  Jan   Kowalski ", "Jan Kowalski")]
    [InlineData("Bardzo Długa Nazwa Firmy Spółka z o.o. Oddział w Gdańsku", "Bardzo Długa Nazwa Firmy Spółka z o.o.")]
    [InlineData("   ", null)]
    public void Caller_id_names_are_trimmed_to_40(string name, string? expected)
    {
        var got = SmartRedirect.CallerIdName(name);
        Assert.Equal(expected, got);
        Assert.True((got?.Length ?? 0) <= 40);
    }

    [Theory]
    [InlineData("routing+name", SmartMode.RoutingAndName)]
    [InlineData("NAME-ONLY", SmartMode.NameOnly)]
    [InlineData("off", SmartMode.Off)]
    public void Mode_words_round_trip(string word, SmartMode mode)
    {
        Assert.True(SmartRedirect.TryParseMode(word, out var m));
        Assert.Equal(mode, m);
        Assert.Equal(word.ToLowerInvariant(), SmartRedirect.Name(m));
    }
}
