using CloudTelephony.Relay;

return await RelayCli.InvokeAsync(args).ConfigureAwait(false);
