# Prints the crashed thread of a .NET crash report (createdump --crashreport JSON, one field per line): the managed
# exception if any, then the frames (method or native symbol; runs of unnamed frames of one library folded).
# Used by test.sh when the test host dies, so a CI log names where.
function val(s) { sub(/^[^:]*: *"/, "", s); sub(/",? *$/, "", s); return s }
function flush() {
  if (frame == "") return
  if (mod != "" && mod == lastmod) { repeats++; frame = ""; return }
  if (repeats) print "  … " repeats " more in " lastmod
  print "  at " frame; lastmod = mod; repeats = 0; frame = ""
}
/"crashed": "true"/ { crashed = 1; next }
/"crashed": "false"/ { flush(); crashed = 0 }
!crashed { next }
/"managed_exception_type"/ { print "  exception: " val($0) }
/"stack_frames"/ { inframes = 1 }
inframes && /"is_managed"/ { flush(); named = 0; mod = "" }
inframes && /"native_image_offset"/ { off = val($0) }
inframes && /"method_name"|"unmanaged_name"/ { frame = val($0); named = 1 }
inframes && /"native_module"/ && !named { mod = val($0); frame = mod "+" off }
END { flush(); if (repeats) print "  … " repeats " more in " lastmod }
