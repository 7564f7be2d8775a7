namespace CloudTelephony.Telephony.Tests;
public class Smoke { [Fact] public void Builds() => Assert.NotNull(Correlators.Create("ctip", "p")); }
