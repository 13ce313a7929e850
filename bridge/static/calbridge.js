// calbridge subscribe page: optional enhancements. Everything works without this file
// except copying to the clipboard and showing times in the viewer's own time zone.
(function () {
  "use strict";

  var status = document.getElementById("copy-status");

  function announce(text) {
    if (status) {
      status.textContent = "";
      // A fresh text node makes screen readers announce repeated messages too.
      window.setTimeout(function () { status.textContent = text; }, 50);
    }
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-http origins have no Clipboard API: fall back to a selected, hidden field.
    return new Promise(function (resolve, reject) {
      var field = document.createElement("textarea");
      field.value = text;
      field.setAttribute("readonly", "");
      field.className = "offscreen";
      document.body.appendChild(field);
      field.select();
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (error) { copied = false; }
      document.body.removeChild(field);
      if (copied) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  function setUpCopy(control) {
    var isLink = control.tagName === "A";
    var label = control.getAttribute("data-js-label");
    if (label) { control.textContent = label; }
    control.hidden = false;
    control.addEventListener("click", function () {
      var text = control.getAttribute("data-copy");
      copyText(text).then(function () {
        control.classList.add("is-copied");
        if (!isLink) {
          var original = control.getAttribute("data-label") || control.textContent;
          control.setAttribute("data-label", original);
          control.textContent = "Copied";
          window.setTimeout(function () {
            control.textContent = original;
            control.classList.remove("is-copied");
          }, 2000);
        }
        announce(isLink ? "Address copied. Paste it in the page that opened." : "Copied to the clipboard.");
      }, function () {
        announce("Copying didn’t work here: select the address and copy it yourself.");
      });
      // Links go on to open their page; the copy happens in the same click.
    });
  }

  function twoDigits(number) { return (number < 10 ? "0" : "") + number; }

  function localizeTimes() {
    var times = document.querySelectorAll("time[data-start][data-end]");
    if (!times.length || !window.Intl || !Intl.DateTimeFormat) { return; }
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var thisYear = new Date().getFullYear();
    var dayFormat = new Intl.DateTimeFormat(undefined, {
      weekday: "short", day: "numeric", month: "short"
    });
    var yearFormat = new Intl.DateTimeFormat(undefined, {
      weekday: "short", day: "numeric", month: "short", year: "numeric"
    });
    function dayOf(date) {
      return (date.getFullYear() === thisYear ? dayFormat : yearFormat).format(date);
    }
    function clock(date) { return twoDigits(date.getHours()) + ":" + twoDigits(date.getMinutes()); }
    function sameDay(a, b) { return a.toDateString() === b.toDateString(); }
    Array.prototype.forEach.call(times, function (element) {
      var start = new Date(element.getAttribute("data-start"));
      var end = new Date(element.getAttribute("data-end"));
      if (isNaN(start) || isNaN(end)) { return; }
      var text = dayOf(start) + ", " + clock(start) + "–";
      if (!sameDay(start, end)) { text += dayOf(end) + ", "; }
      element.textContent = text + clock(end);
    });
    var note = document.getElementById("zone-note");
    if (note && zone) {
      note.textContent = "Times are in your time zone, " + zone + ".";
      note.setAttribute("data-viewer-zone", zone);
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), setUpCopy);
  localizeTimes();
})();
